"""The networks: the paper's CNN, training, occlusion maps, scoring with another run's networks."""
