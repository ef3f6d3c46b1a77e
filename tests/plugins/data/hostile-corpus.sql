-- seed
COMMIT
