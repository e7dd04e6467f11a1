"""Batch estimates on Azure ML: the same batch code as ``python -m estimation_engine batch``, on a cluster.

A pipeline job with one parallel step (``parallel_run_function``): the portfolio is a ``uri_folder`` data
asset of CSV or Parquet files, each file one unit of work; every worker process loads the pinned model
once (``entry.init``) and runs ``estimation_engine.batch.runner.run_batch`` on the files it is handed
(``entry.run``). The estimates folder is a named pipeline output, so each run registers a new version of a
data asset. ``python -m estimation_engine.batch.azureml submit|schedule`` builds and sends it
(``pipeline_job.py`` builds it offline; ``submission.py`` talks to the workspace).

azure-ai-ml is imported inside functions only and nothing in the serving path imports this package, so
the engine image (which installs no azure-ai-ml) is unaffected; ``entry.py`` imports no azure-ai-ml at all.
"""
