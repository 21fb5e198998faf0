"""support-kpi: live customer-support KPIs from helpdesk events on Kafka."""

__version__ = "0.1.0"
