"""GDELT data preparation: profile the base year, shard each year into recordIO-protobuf, write the manifest.

Handlers live in ``lambdas.dataprep.handler``; everything else is plain functions over boto3 clients.
"""
