# The per-minute counters moved here from callnotify: the model changes app, its table
# (callnotify_minutecount, made by callnotify 0004) stays where it is, so no data moves.

from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('callnotify', '0004_endpoint_health'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='MinuteCount',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(max_length=40)),
                        ('minute', models.DateTimeField()),
                        ('count', models.PositiveBigIntegerField(default=0)),
                    ],
                    options={
                        'db_table': 'callnotify_minutecount',
                        'indexes': [models.Index(fields=['minute'], name='callnotify_minutecount_age')],
                        'constraints': [models.UniqueConstraint(fields=('name', 'minute'), name='callnotify_minutecount_key')],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
