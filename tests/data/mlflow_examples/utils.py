import mlflow
from mlflow.tracking import MlflowClient


def yield_artifacts(run_id, path=None):
    client = MlflowClient()
    for item in client.list_artifacts(run_id, path):
        if item.is_dir:
            yield from yield_artifacts(run_id, item.path)
        else:
            yield item.path


def fetch_logged_data(run_id):
    client = MlflowClient()
    data = client.get_run(run_id).data
    tags = {k: v for k, v in data.tags.items() if not k.startswith("mlflow.")}
    return {"params": data.params, "metrics": data.metrics, "tags": tags,
            "artifacts": list(yield_artifacts(run_id))}
