using JP1Dist.Tests.Host;

namespace JP1Dist.Tests;

/// <summary>
/// Waits for something other processes make true (a registration, a file, a status), probing every 200 ms for at most
/// <see cref="Limit"/> (or the limit given): a bound on a hang, not a timed assertion. Fails early, with its output, when
/// the process that should make it true has ended first.
/// </summary>
internal static class Eventually
{
    public static readonly TimeSpan Limit = TimeSpan.FromSeconds(90);

    /// <summary>The probe's first non-null value.</summary>
    public static async Task<T> ForAsync<T>(Func<Task<T?>> probe, string what, NodeProcess? node = null, TimeSpan? limit = null)
    {
        var bound = limit ?? Limit;
        for (var deadline = DateTime.UtcNow + bound; DateTime.UtcNow < deadline; await Task.Delay(200))
        {
            if (await probe() is { } value)
            {
                return value;
            }
            if (node is { Process.HasExited: true })
            {
                throw new InvalidOperationException($"The process ended before {what}: {await node.OutputAsync()}");
            }
        }
        throw new TimeoutException($"Not within {bound.TotalSeconds:0} s: {what}.");
    }

    /// <summary>Until the probe answers true.</summary>
    public static Task ForAsync(Func<Task<bool>> probe, string what, NodeProcess? node = null, TimeSpan? limit = null) =>
        ForAsync<object>(async () => await probe() ? true : null, what, node, limit);
}
