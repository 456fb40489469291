from tests.storefixtures import moto_endpoint, store  # noqa: F401  (fixtures)
