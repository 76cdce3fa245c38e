using JP1Dist.Server.Serving;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace JP1Dist.Tests.Host;

/// <summary>
/// The connection budget accounts for every descriptor, not only connections: content files being served, and what the
/// node's last count found beside them (the database's pooled connections, logs, listeners).
/// </summary>
public sealed class ConnectionBudgetTests
{
    [Fact]
    public void The_count_of_open_descriptors_is_the_process_s_own()
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // counted from /proc/self/fd
        }
        // 200 more descriptors open: the count (the folder's size by statx on Linux 6.2 and later, else its entries) sees them.
        var before = ConnectionBudget.FileDescriptors.CountOpen();
        var files = Enumerable.Range(0, 200).Select(_ => File.OpenHandle("/dev/null")).ToList();
        try
        {
            var during = ConnectionBudget.FileDescriptors.CountOpen();
            var listed = Directory.GetFileSystemEntries("/proc/self/fd").Length - 1;
            Assert.NotNull(before);
            Assert.InRange(during!.Value - before!.Value, 190, 210);
            Assert.InRange(during.Value, listed - 10, listed + 10);
        }
        finally
        {
            files.ForEach(f => f.Dispose());
        }
    }

    [Fact]
    public void Connections_content_files_and_the_rest_share_the_descriptors_less_the_reserve()
    {
        var inUse = 100; // at the first count: nothing is held yet, so all of it is the rest
        using var budget = new ConnectionBudget(1000, 600, NullLogger.Instance, TimeProvider.System, () => inUse);
        // 600 - 256 kept = 344 for connections, files and the rest: 244 connections.
        var admitted = 0;
        while (budget.TryEnter("127.0.0.1:1") && admitted < 1000)
        {
            admitted++;
        }
        Assert.Equal(244, admitted);
        Assert.Equal(1, budget.Shed);

        // A content file may use half the reserve: 600 - 128 = 472, so 128 files beside 244 connections and 100 others.
        var files = new List<IDisposable>();
        while (budget.TryOpenFile() is { } file)
        {
            files.Add(file);
        }
        Assert.Equal(128, files.Count);
        Assert.Equal(128, budget.FilesOpen);
        Assert.Equal(1, budget.FilesRefused);

        // The files hold the places of connections that end: 100 leave, and no new one is admitted.
        for (var i = 0; i < 100; i++)
        {
            budget.Leave();
        }
        Assert.False(budget.TryEnter("127.0.0.1:2"));
        files[0].Dispose();
        files[0].Dispose(); // a lease given back twice counts once
        Assert.Equal(127, budget.FilesOpen);
        foreach (var file in files.Skip(1))
        {
            file.Dispose();
        }
        Assert.Equal(0, budget.FilesOpen);
        Assert.True(budget.TryEnter("127.0.0.1:3"));
        budget.Leave();

        // One high count (taken while a burst of closed connections was still being let go) sheds nothing...
        inUse = 144 + 300;
        budget.Sample();
        Assert.Equal(444, budget.DescriptorsInUse);
        Assert.True(budget.TryEnter("127.0.0.1:4"));
        budget.Leave();
        // ...but what lasts is kept for: the database's pool grew by 200, seen beside 144 connections at every count. A new
        // connection is refused, while a content file still opens within half the reserve.
        for (var i = 1; i < ConnectionBudget.SamplesKept; i++)
        {
            budget.Sample();
        }
        Assert.False(budget.TryEnter("127.0.0.1:5")); // 145 + 300 > 344
        using var one = budget.TryOpenFile(); // 144 + 1 + 300 <= 472
        Assert.NotNull(one);
    }
}
