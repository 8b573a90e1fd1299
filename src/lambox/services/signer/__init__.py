"""AWS Signer, the subset Lambda's code signing needs: signing profiles of the
``AWSLambda-SHA384-ECDSA`` platform with a key per profile version (``keys``), signing jobs
from one S3 object to another (``service``), their state in SQLite (``store``) and the
signature lambox writes and checks (``signatures``). docs/signer.md says what differs
from AWS."""
