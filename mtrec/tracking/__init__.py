"""The tracking layer: everything MLflow (stores, a run's lifecycle, resume, a sweep's runs)."""
