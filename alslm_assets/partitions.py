import dagster as dg

from alslm_ml.documents import SOURCES

# One partition per corpus source; `starter` is the offline embedded default shipped in the repo.
source_partitions = dg.StaticPartitionsDefinition(list(SOURCES))
