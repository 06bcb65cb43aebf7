"""Run by tests/test_local_clients.py in a child process, in a served local run's exported environment only.

Each check uses the SageMaker Python SDK v2 exactly as a user would; the script prints one JSON object,
``{check: {"ok": bool, "value": ..., "error": traceback}}``. Usage: ``python client_checks_sdk_v2.py '<json>'``
with ``{"job": <training job>, "endpoint": <endpoint>, "feature_dim": n, "role": <role ARN>}``.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np
import sagemaker
from sagemaker.amazon.linear_learner import LinearLearner, LinearLearnerPredictor
from sagemaker.deserializers import CSVDeserializer, JSONDeserializer
from sagemaker.estimator import Estimator
from sagemaker.predictor import Predictor
from sagemaker.serializers import CSVSerializer, JSONSerializer


def main(args: dict[str, Any]) -> dict[str, Any]:  # noqa: C901 -- one check per SDK call, in order
    session = sagemaker.Session()
    job, endpoint, dim = args["job"], args["endpoint"], int(args["feature_dim"])
    rows = np.arange(2 * dim, dtype=np.float32).reshape(2, dim) / 10

    def attach() -> Any:
        estimator = Estimator.attach(job, sagemaker_session=session)
        return {"model_data": estimator.model_data, "instance_count": estimator.instance_count}

    def attach_linear_learner() -> Any:
        learner = LinearLearner.attach(job, sagemaker_session=session)
        return {"predictor_type": learner.predictor_type, "model_data": learner.model_data}

    def analytics() -> Any:
        frame = Estimator.attach(job, sagemaker_session=session).training_job_analytics.dataframe()
        return sorted(set(frame["metric_name"]))

    def linear_learner_predictor() -> Any:
        records = LinearLearnerPredictor(endpoint, sagemaker_session=session).predict(rows)
        return [record.label["score"].float32_tensor.values[0] for record in records]

    def predictor_csv() -> Any:
        predictor = Predictor(endpoint, session, serializer=CSVSerializer(), deserializer=JSONDeserializer())
        return [p["score"] for p in predictor.predict(rows)["predictions"]]

    def predictor_json() -> Any:
        predictor = Predictor(endpoint, session, serializer=JSONSerializer(), deserializer=JSONDeserializer())
        dense = predictor.predict({"instances": [{"features": row.tolist()} for row in rows]})
        sparse = predictor.predict(
            {
                "instances": [
                    {"data": {"features": {"keys": list(range(dim)), "shape": [dim], "values": row.tolist()}}}
                    for row in rows
                ]
            }
        )
        return {"dense": [p["score"] for p in dense["predictions"]],
                "sparse": [p["score"] for p in sparse["predictions"]]}

    def csv_answer_refused() -> Any:
        predictor = Predictor(endpoint, session, serializer=CSVSerializer(), deserializer=CSVDeserializer())
        return predictor.predict(rows)

    def default_bucket() -> Any:
        return sagemaker.Session().default_bucket()

    def logs_for_job() -> Any:
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            session.logs_for_job(job, wait=False)
        return printed.getvalue().splitlines()

    def fit_record_set() -> Any:
        learner = LinearLearner(
            role=args["role"],
            instance_count=1,
            instance_type="ml.c5.xlarge",
            predictor_type="regressor",
            epochs=2,
            sagemaker_session=session,
        )
        rng = np.random.default_rng(7)
        features = rng.normal(size=(200, 3)).astype(np.float32)
        labels = (features @ np.array([1.0, -2.0, 0.5], dtype=np.float32) + 0.25).astype(np.float32)
        learner.fit(learner.record_set(features, labels=labels), wait=False)
        job = learner.latest_training_job
        assert job is not None
        job.wait(logs="None")
        description = job.describe()
        return {
            "status": description["TrainingJobStatus"],
            "failure": description.get("FailureReason"),
            "channels": [c["DataSource"]["S3DataSource"]["S3DataType"] for c in description["InputDataConfig"]],
        }

    checks: dict[str, Callable[[], Any]] = {
        "attach": attach,
        "attach_linear_learner": attach_linear_learner,
        "analytics": analytics,
        "linear_learner_predictor": linear_learner_predictor,
        "predictor_csv": predictor_csv,
        "predictor_json": predictor_json,
        "csv_answer_refused": csv_answer_refused,
        "default_bucket": default_bucket,
        "logs_for_job": logs_for_job,
        "fit_record_set": fit_record_set,
    }
    results: dict[str, Any] = {}
    for name, check in checks.items():
        try:
            results[name] = {"ok": True, "value": check()}
        except Exception:
            results[name] = {"ok": False, "error": traceback.format_exc()}
    return results


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1])), default=str))
