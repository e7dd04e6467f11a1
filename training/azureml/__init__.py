"""The training pipeline on Azure Machine Learning: the same steps as the local runner, one job each.

``step`` is the components' command line (it runs inside the jobs and never imports ``azure-ai-ml``);
``components`` and ``pipeline_job`` build the pipeline job offline; ``submission`` talks to the workspace.
"""
