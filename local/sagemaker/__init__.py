"""The local SageMaker, split along SageMaker's own seams (as moto's backend and the SDK's local mode are).

- ``control_plane``: ``LocalSageMaker``, the API operations (``handle(operation, params)``), tags and listing;
- ``validation``: requests checked against botocore's service model, errors worded as AWS's;
- ``training_job``: a training job's state and lifecycle (``TrainingJob.run``; its input comes through
  ``local.channels``) and its model upload;
- ``endpoints``: models, endpoint configs and endpoints, and an endpoint's lifecycle;
- ``transform_job``: a batch transform job's state and lifecycle (``TransformJob.run``; the endpoints' container
  code scores its mini-batches);
- ``listing``: how List* calls filter, sort and page;
- ``logs``: the CloudWatch log groups/streams SageMaker writes for a run;
- ``faults``: ``FaultPlan``, the failures tests inject.

The instance quotas it enforces are ``local.service_quotas`` (served as the Service Quotas API too).
"""
