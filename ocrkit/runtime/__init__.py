"""Code that ships into the cloud: a change here changes what a deployed system runs.

    lambda_entry.py        AWS Lambda handler (the gateway in front of SageMaker)   -> the Lambda zip
    sagemaker_backend.py   the gateway's backend: InvokeEndpoint through sagemaker-runtime
    sagemaker_entry.py     SageMaker PyTorch container's code/inference.py          -> model.tar.gz
    function_entry.py      Cloud Function 2nd gen entry `predict` (the gateway)     -> the function source
    vertex_backend.py      the function's backend: the Vertex AI endpoint's :predict
    onnx_function_entry.py Cloud Function entry `predict` holding the ONNX model       -> serving: function
    model_object.py        reads that function's model zip (gs:// or a path) once per cold start
    torchserve_handler.py  TorchServe handler in the Vertex AI PyTorch container    -> model.mar

The packaging in ocrkit.providers.{aws,gcp}.package bundles each entry with exactly the ocrkit modules it
imports. The gateway entries are standard library only (boto3 comes with the Lambda runtime); torch is
imported only inside the model-side entries' functions. This file imports nothing.
"""
