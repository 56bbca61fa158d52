"""The operator becomes explicit (docs/api.md §3): one customer marked `is_operator`.

Today's data has no mark: the operator is taken to be the reseller without a parent (not
DELETED) whose employees include an ADMIN, the oldest such one; failing that, the oldest reseller
without a parent. Any other reseller without a parent stays an ordinary reseller. Nothing is
marked in a database with no reseller without a parent (the first one made later becomes it).
"""

from django.db import migrations, models


def mark_operator(apps, schema_editor):  # noqa: ANN001, ANN201
    Customer = apps.get_model("accounts", "Customer")  # noqa: N806
    if Customer.objects.filter(is_operator=True).exists():
        return
    roots = Customer.objects.filter(is_reseller=True, parent_reseller__isnull=True).exclude(state="DELETED").order_by("created_at", "id")
    operator = roots.filter(employees__access_level="ADMIN").first() or roots.first()
    if operator is not None:
        Customer.objects.filter(pk=operator.pk).update(is_operator=True)


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0002_api_keys"),
    ]

    operations = [
        migrations.AddField(
            model_name="customer",
            name="is_operator",
            field=models.BooleanField(default=False, editable=False, help_text="The operator itself (exactly one customer): its employees are the operator's own accounts.", verbose_name="operator"),
        ),
        migrations.AddConstraint(
            model_name="customer",
            constraint=models.UniqueConstraint(condition=models.Q(("is_operator", True)), fields=("is_operator",), name="accounts_one_operator", violation_error_code="operator", violation_error_message="An operator exists already"),
        ),
        migrations.RunPython(mark_operator, migrations.RunPython.noop),
    ]
