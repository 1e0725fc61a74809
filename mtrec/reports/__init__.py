"""The reports layer: result tables, Pareto sets and plots, rebuilt from MLflow runs."""
