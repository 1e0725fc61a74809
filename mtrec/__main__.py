from mtrec.cli import run

run()
