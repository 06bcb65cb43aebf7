"""Lambda runtime code: one package, and the Lambda asset (`stacks/lambda_code.py`). Handlers are
`lambdas.<package>.handler.<function>`; the stacks, local mode and the tests import the same names.
"""
