"""What the pages read, with no drawing: the models on disk, cached data and models, tables,
recommendations, training jobs and the session's choices. Services call mind_core only."""
