"""MLflow-shaped modules: autolog and the names an MLflow script imports."""
