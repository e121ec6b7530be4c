"""Running the Lambda functions on one machine: SQS topology, handler loading and SQS polling."""
