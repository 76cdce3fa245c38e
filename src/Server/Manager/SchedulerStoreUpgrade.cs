using Microsoft.Data.Sqlite;

namespace JP1Dist.Server.Manager;

/// <summary>
/// Keeps triggers scheduled by an earlier build firing after an upgrade. Quartz stores each job's class by its
/// assembly-qualified name; when the dispatch job moved from the single engine assembly to the server assembly, a
/// trigger scheduled for tonight by the previous build would name a type that no longer exists, and Quartz would
/// drop the execution. The rename is applied once, before the scheduler starts, and is idempotent.
/// </summary>
public static class SchedulerStoreUpgrade
{
    /// <summary>Job class names of earlier builds, with what they are now.</summary>
    private static readonly (string Former, Type Current)[] Renamed =
    [
        ("JP1Dist.Engine.Manager.DispatchExecutionJob, JP1Dist.Engine", typeof(DispatchExecutionJob)),
    ];

    /// <summary>The name Quartz stores for a job class: the full name and the simple assembly name.</summary>
    public static string StoredName(Type type) => $"{type.FullName}, {type.Assembly.GetName().Name}";

    /// <summary>Rewrites former job class names in Quartz's tables, if those tables exist yet; returns the rows changed.</summary>
    public static int Apply(string connectionString)
    {
        using var connection = new SqliteConnection(connectionString);
        connection.Open();
        using (var exists = connection.CreateCommand())
        {
            exists.CommandText = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'QRTZ_JOB_DETAILS'";
            if (Convert.ToInt64(exists.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture) == 0)
            {
                return 0;
            }
        }
        var changed = 0;
        foreach (var (former, current) in Renamed)
        {
            using var update = connection.CreateCommand();
            update.CommandText = "UPDATE QRTZ_JOB_DETAILS SET JOB_CLASS_NAME = $current WHERE JOB_CLASS_NAME = $former";
            update.Parameters.AddWithValue("$current", StoredName(current));
            update.Parameters.AddWithValue("$former", former);
            changed += update.ExecuteNonQuery();
        }
        return changed;
    }
}
