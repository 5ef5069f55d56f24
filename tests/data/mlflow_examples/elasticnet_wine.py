import sys
import warnings
from urllib.parse import urlparse

import numpy as np
import pandas as pd
from sklearn.linear_model import ElasticNet
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import train_test_split

import mlflow
import mlflow.sklearn


def eval_metrics(actual, pred):
    return (np.sqrt(mean_squared_error(actual, pred)), mean_absolute_error(actual, pred),
            r2_score(actual, pred))


def wine_like_data():
    # in place of the UCI download: 11 physico-chemical columns and a 3..8 "quality"
    rng = np.random.RandomState(7)
    columns = ["fixed acidity", "volatile acidity", "citric acid", "residual sugar",
               "chlorides", "free sulfur dioxide", "total sulfur dioxide", "density", "pH",
               "sulphates", "alcohol"]
    x = pd.DataFrame(rng.normal(size=(300, len(columns))), columns=columns)
    quality = np.clip(np.round(5.5 + x["alcohol"] - 0.6 * x["volatile acidity"]
                               + rng.normal(scale=0.5, size=300)), 3, 8)
    return x.assign(quality=quality)


if __name__ == "__main__":
    warnings.filterwarnings("ignore")
    np.random.seed(40)
    data = wine_like_data()
    train, test = train_test_split(data)
    train_x = train.drop(["quality"], axis=1)
    test_x = test.drop(["quality"], axis=1)
    train_y = train[["quality"]]
    test_y = test[["quality"]]
    alpha = float(sys.argv[1]) if len(sys.argv) > 1 else 0.5
    l1_ratio = float(sys.argv[2]) if len(sys.argv) > 2 else 0.5

    with mlflow.start_run():
        lr = ElasticNet(alpha=alpha, l1_ratio=l1_ratio, random_state=42)
        lr.fit(train_x, train_y)
        rmse, mae, r2 = eval_metrics(test_y, lr.predict(test_x))
        mlflow.log_param("alpha", alpha)
        mlflow.log_param("l1_ratio", l1_ratio)
        mlflow.log_metric("rmse", rmse)
        mlflow.log_metric("r2", r2)
        mlflow.log_metric("mae", mae)
        if urlparse(mlflow.get_tracking_uri()).scheme != "file":
            mlflow.sklearn.log_model(lr, "model", registered_model_name="ElasticnetWineModel")
        else:
            mlflow.sklearn.log_model(lr, "model")
