"""Delivery: every change to what runs where, each a pull request on the gitops remote: the training job's
bump, promotion, rollback and image pins, with the remote, the pull-request providers and the preview."""
