from odum_pipeline.resources.sources import AlgorithmsResource, ConfigsResource
from odum_pipeline.resources.storage import CatalogResource, RawDataResource, ResultsResource

__all__ = ["AlgorithmsResource", "CatalogResource", "ConfigsResource", "RawDataResource", "ResultsResource"]
