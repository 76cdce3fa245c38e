using JP1Dist.Contracts;
using JP1Dist.Server.Manager;
using Microsoft.AspNetCore.Builder;
using Microsoft.Data.Sqlite;
using Xunit;

namespace JP1Dist.Tests.Engine;

/// <summary>A trigger that an earlier build scheduled still fires after an upgrade that moved its job class.</summary>
public sealed class SchedulerUpgradeTests
{
    [SqliteOnlyFact("the builds whose triggers named the former class stored them in SQLite only")]
    public async Task An_execution_scheduled_under_the_former_job_class_name_fires_after_the_upgrade()
    {
        using var folder = new TestFolder();
        var engine = folder.Engine;
        folder.WriteFile("pkg/setup.sh", "exit 0");
        await folder.RegisterHostAsync("pc-1");
        await engine.Packages.CreateAsync(new NewPackageRequest("App", "1.0", Path.Combine(folder.Root, "pkg"), "setup.sh"), null);
        await engine.Jobs.CreateAsync(new NewJobRequest("Tonight", "App", null, ["pc-1"], DistributeAt: DateTime.Now.AddSeconds(6)));
        await engine.Jobs.StartAsync("Tonight");

        // The manager schedules the execution; it is stopped before the execution time.
        var app = Manager(folder);
        await app.StartAsync();
        try
        {
            await WaitUntilAsync(() => Scalar(engine, "SELECT count(*) FROM QRTZ_TRIGGERS") is > 0L, "the trigger to be scheduled");
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
        Assert.Equal(SchedulerStoreUpgrade.StoredName(typeof(DispatchExecutionJob)), Scalar(engine, "SELECT JOB_CLASS_NAME FROM QRTZ_JOB_DETAILS"));

        // As the previous build stored it.
        Execute(engine, "UPDATE QRTZ_JOB_DETAILS SET JOB_CLASS_NAME = 'JP1Dist.Engine.Manager.DispatchExecutionJob, JP1Dist.Engine'");

        app = Manager(folder);
        await app.StartAsync();
        try
        {
            await WaitUntilAsync(async () => (await engine.Jobs.GetStatusAsync(new JobStatusQuery("Tonight"))).Single().Status == TargetStatus.Queued,
                "the execution to be dispatched at its time");
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
        Assert.Equal(0, SchedulerStoreUpgrade.Apply(engine.Database.ConnectionString)); // nothing left to rename
    }

    private static WebApplication Manager(TestFolder folder) =>
        ManagerHost.Build(new ManagerOptions { Home = folder.Engine.Folder.Root, ListenUrl = "http://127.0.0.1:0", QuietConsole = true });

    private static object? Scalar(JP1Dist.Core.DistEngine engine, string sql)
    {
        using var connection = new SqliteConnection(engine.Database.ConnectionString);
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteScalar();
    }

    private static void Execute(JP1Dist.Core.DistEngine engine, string sql)
    {
        using var connection = new SqliteConnection(engine.Database.ConnectionString);
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        Assert.Equal(1, command.ExecuteNonQuery());
    }

    private static Task WaitUntilAsync(Func<bool> condition, string what) => WaitUntilAsync(() => Task.FromResult(condition()), what);

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"Timed out waiting for {what}.");
            await Task.Delay(100);
        }
    }
}
