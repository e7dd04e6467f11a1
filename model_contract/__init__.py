"""What training, delivery and the estimation engine share, importing none of them: the model artifact and
its card, the registry client, each environment's registry, the pin-file contract, and where the embedded
default keeps its state."""
