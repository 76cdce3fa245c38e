using System.Collections.Concurrent;
using System.Globalization;
using System.Threading.RateLimiting;
using JP1Dist.Core.Security;
using JP1Dist.Protocol;
using JP1Dist.Server.Serving;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace JP1Dist.Server.Manager;

/// <summary>
/// The admin API's request limit (<see cref="ManagerOptions.AdminRequestsPerMinute"/>): a token bucket per access key, and one
/// per source address for requests whose key is refused, so a flood from one key or key guessing from one address is
/// answered 429 with Retry-After and the problem details the API uses, while other keys are served. A verified key's
/// requests never count against its address (people behind one NAT do not share a limit). An address whose refused keys
/// used up its bucket is answered 429 before any key it presents is checked, so a right guess cannot be told from a
/// wrong one by its answer, until the bucket refills.
/// Built on System.Threading.RateLimiting's partitioned limiter, the one Microsoft.AspNetCore.RateLimiting's middleware
/// uses; the middleware itself picks one partition before the endpoint runs, and this needs two steps around the key check
/// (the address before it, the key after it).
/// </summary>
public sealed class AdminRateLimit : IDisposable
{
    /// <summary>The error id of the 429 answer.</summary>
    public const string ErrorId = "RequestRateLimited";

    private readonly PartitionedRateLimiter<string> _limiter;
    private readonly int _perMinute;
    /// <summary>How long one token takes to come back: the wait named to an address over its limit.</summary>
    private readonly TimeSpan _refill;
    private readonly ILogger<AdminRateLimit> _logger;
    private readonly ConcurrentDictionary<string, DateTime> _logged = new(StringComparer.Ordinal);

    public AdminRateLimit(ManagerOptions options, ILogger<AdminRateLimit> logger)
    {
        if (options.AdminRequestsPerMinute < 1)
        {
            throw new DistException("AdminRequestLimitInvalid", DistErrorKind.InvalidArgument,
                $"The admin API's request limit must be at least 1 a minute; {options.AdminRequestsPerMinute} was given.", options.AdminRequestsPerMinute);
        }
        _perMinute = options.AdminRequestsPerMinute;
        _logger = logger;
        // Refilled in small steps (the partitioned limiter replenishes every 100 ms at the finest), not a minute's worth at once.
        var period = TimeSpan.FromMilliseconds(Math.Max(100, 60_000.0 / _perMinute));
        var perPeriod = (int)Math.Max(1, Math.Round(_perMinute * period.TotalMinutes));
        _refill = period;
        _limiter = PartitionedRateLimiter.Create<string, string>(partition => RateLimitPartition.GetTokenBucketLimiter(partition, _ => new TokenBucketRateLimiterOptions
        {
            TokenLimit = _perMinute,
            TokensPerPeriod = perPeriod,
            ReplenishmentPeriod = period,
            QueueLimit = 0,
            AutoReplenishment = true,
        }));
    }

    /// <summary>
    /// Checks the key with <paramref name="verify"/> within the limits: the caller, or null when the request was answered
    /// 429 (nothing else must be written then). A refused key's exception passes through after counting against the address.
    /// </summary>
    public async Task<DistCaller?> AdmitAsync(HttpContext context, string? presented, string source, Func<Task<DistCaller>> verify, bool metered = true)
    {
        var address = "address " + source;
        // Not a zero-permit AttemptAcquire: the token bucket answers that with success once a fraction of a token is back.
        if (_limiter.GetStatistics(address) is { CurrentAvailablePermits: < 1 })
        {
            await RefuseAsync(context, _refill, address, $"Too many requests with keys that were refused came from {source}");
            return null;
        }
        DistCaller caller;
        try
        {
            caller = await verify();
        }
        catch (DistException e) when (e.Kind == DistErrorKind.Unauthorized)
        {
            _limiter.AttemptAcquire(address).Dispose();
            throw;
        }
        if (!metered)
        {
            // The pieces of an upload: each is bounded and checked, and counting them would hold an upload to the request rate.
            return caller;
        }
        // Verified: the text is jp1key.KEYID.SECRET, and the id is the key's public part.
        var key = "key " + presented!.Trim().Split('.')[1];
        using var lease = _limiter.AttemptAcquire(key);
        if (!lease.IsAcquired)
        {
            await RefuseAsync(context, lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter) ? retryAfter : _refill, key, $"Access key '{caller.Principal}' made too many requests");
            return null;
        }
        return caller;
    }

    private async Task RefuseAsync(HttpContext context, TimeSpan wait, string partition, string what)
    {
        var seconds = Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds));
        context.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        var now = DateTime.UtcNow;
        if (!_logged.TryGetValue(partition, out var last) || now - last > TimeSpan.FromMinutes(1))
        {
            if (_logged.Count > 10_000)
            {
                // Many addresses held back at once: forget those said more than a minute ago, so this stays small.
                foreach (var (old, at) in _logged)
                {
                    if (now - at > TimeSpan.FromMinutes(1))
                    {
                        _logged.TryRemove(old, out _);
                    }
                }
            }
            _logged[partition] = now;
            _logger.LogWarning("Admin API requests refused for {Partition} at {Limit} a minute (said once a minute)", partition, _perMinute);
        }
        var refusal = new DistException(ErrorId, DistErrorKind.NotAvailable,
            $"{what}: the manager takes at most {_perMinute} a minute. Try again in {seconds} s.", partition);
        await AgentApi.Problem(refusal, StatusCodes.Status429TooManyRequests).ExecuteAsync(context);
    }

    public void Dispose() => _limiter.Dispose();
}
