"""Tasks: what is learned. Each task is data (a YAML file under tasks/defs/) read into a TaskSpec;
families (classification, regression, multiple_choice, span_qa, tagging, retrieval, mlm) are code: the family table
in xstilts.families."""

from xstilts.tasks.registry import get_task, list_tasks, register_task_dir
from xstilts.tasks.spec import HubSource, TaskSpec

__all__ = ["HubSource", "TaskSpec", "get_task", "list_tasks", "register_task_dir"]
