"""Job specs: the schema, its checks across fields, errors, and the metrics a job can optimise."""
