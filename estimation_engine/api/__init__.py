"""What serves HTTP: the app and its routes, request decoding and validation, the middleware, metrics,
structured logs, and the server that runs it all under uvicorn."""
