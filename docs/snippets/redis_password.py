"""A password with URL characters in it, percent-encoded (docs/how-to/redis-connections.md);
run by tests/test_docs_snippets.py."""


def url_for(password):
    # --8<-- [start:quote]
    from urllib.parse import quote

    redis_url = f"redis://app:{quote(password, safe='')}@redis.internal:6379/0"
    # --8<-- [end:quote]
    return redis_url
