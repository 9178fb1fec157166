gBÀ
ŒhGyæ    ðˆF 