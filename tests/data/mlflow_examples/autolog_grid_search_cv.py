from sklearn import datasets, svm
from sklearn.model_selection import GridSearchCV
from utils import fetch_logged_data

import mlflow


def main():
    mlflow.sklearn.autolog()
    iris = datasets.load_iris()
    parameters = {"kernel": ("linear", "rbf"), "C": [1, 10]}
    clf = GridSearchCV(svm.SVC(), parameters)
    with mlflow.start_run() as run:
        clf.fit(iris.data, iris.target)
    parent = fetch_logged_data(run.info.run_id)
    runs = mlflow.search_runs(filter_string=f"tags.mlflow.parentRunId = '{run.info.run_id}'")
    param_cols = [f"params.{p}" for p in parameters]
    children = runs[[*param_cols, "metrics.mean_test_score"]]
    return {"parent": parent,
            "children": sorted(map(tuple, children.astype(str).values.tolist()))}


if __name__ == "__main__":
    main()
