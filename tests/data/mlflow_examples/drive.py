"""Run the example scripts with MLflow (`drive.py mlflow`) or with their mlflow imports replaced
by gittrack (`drive.py gittrack`), in the current directory; print what each logged as JSON."""

import importlib
import json
import random
import runpy
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).parent
SCRIPTS = ["tracking_quickstart", "elasticnet_wine", "autolog_linear_regression",
           "autolog_pipeline", "autolog_grid_search_cv"]
REPLACE = [("import mlflow.sklearn", "import gittrack.sklearn"),
           ("from mlflow.tracking import", "from gittrack.tracking import"),
           ("from mlflow import", "from gittrack import"),
           ("import mlflow\n", "import gittrack as mlflow\n")]


def main(mode: str) -> None:
    work = Path.cwd() / "scripts"
    work.mkdir()
    for path in HERE.glob("*.py"):
        text = path.read_text()
        if mode == "gittrack":
            for old, new in REPLACE:
                text = text.replace(old, new)
        (work / path.name).write_text(text)
    sys.path.insert(0, str(work))
    import utils

    results = {}
    for name in SCRIPTS:
        random.seed(15)
        module = importlib.import_module(name)
        if hasattr(module, "main"):
            results[name] = module.main()
        else:
            sys.argv = [f"{name}.py"]
            runpy.run_path(str(work / f"{name}.py"), run_name="__main__")
            mlflow = importlib.import_module(mode)
            results[name] = utils.fetch_logged_data(mlflow.last_active_run().info.run_id)
            mlflow.end_run()
        shutil.rmtree("outputs", ignore_errors=True)
    print(json.dumps(results, sort_keys=True, default=str))


if __name__ == "__main__":
    main(sys.argv[1])
