"""intacct-sync: selling channels to Sage Intacct, as AWS Lambda functions.

All domain code lives in this package (the shared layer); handlers under functions/ stay thin.
"""
