from odum_pipeline.resources.storage import CatalogResource, RawDataResource, ResultsResource

__all__ = ["CatalogResource", "RawDataResource", "ResultsResource"]
