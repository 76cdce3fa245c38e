using JP1Dist.Tests.Host;

namespace JP1Dist.Tests;

/// <summary>
/// Waits for something other processes make true (a registration, a file, a status), probing every 200 ms for at most
/// 90 s: a bound on a hang, not a timed assertion. Fails early when the process that should make it true has ended.
/// </summary>
internal static class Eventually
{
    public static readonly TimeSpan Limit = TimeSpan.FromSeconds(90);

    public static async Task<T> ValueAsync<T>(Func<Task<T?>> probe, string what, NodeProcess? node = null)
    {
        for (var deadline = DateTime.UtcNow + Limit; DateTime.UtcNow < deadline; await Task.Delay(200))
        {
            if (node is { Process.HasExited: true })
            {
                throw new InvalidOperationException($"The process ended before {what}: {await node.OutputAsync()}");
            }
            if (await probe() is { } value)
            {
                return value;
            }
        }
        throw new TimeoutException($"Not within {Limit.TotalSeconds:0} s: {what}.");
    }

    public static Task TrueAsync(Func<Task<bool>> probe, string what, NodeProcess? node = null) =>
        ValueAsync<object>(async () => await probe() ? true : null, what, node);
}
