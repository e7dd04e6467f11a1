"""Batch estimates for a portfolio: ``python -m estimation_engine batch``, and the same code on Azure ML.

By job: ``command.py`` is the subcommand; ``batch_model.py`` chooses and loads the model as the engine
does; ``input_table.py`` streams the input file; ``chunk_columns.py`` turns a chunk into the model's
columns; ``chunk_estimates.py`` validates and estimates it with the HTTP path's own calls;
``output_files.py`` writes the estimates and the refused rows; ``progress.py`` reports; ``runner.py``
ties them together. ``azureml/`` runs the same on an Azure ML cluster (azure-ai-ml is imported there only,
and nothing in the serving path imports it).
"""
