namespace JP1Dist.Agent;

/// <summary>
/// The higher systems a node may talk to, in order of preference (`--manager URL1,URL2,…`): the first is its own (the
/// relay it belongs below), the others stand in while it cannot serve. Every call goes to <see cref="Current"/>; a call
/// that finds it unreachable, unable to serve (5xx, an answer that is not the protocol's, no answer in time) or not the
/// system it trusts moves on to the next (<see cref="FailedOver"/>), and the caller's jittered back-off spaces the
/// attempts. A node that stands in on a later one goes back to the first after <see cref="ReturnAfter"/>, so a relay
/// that is back gets its clients back and the manager does not keep them.
/// </summary>
/// <remarks>
/// One list for every call of a node's client, shared by its concurrent calls: a failure moves on only from the system
/// that failed (two calls failing at once on the same one move on once, not twice).
/// </remarks>
public sealed class HigherSystems
{
    private readonly List<Uri> _urls;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private int _index;
    private long _leftFirstAt;

    /// <summary>How long a node stays on a stand-in before it tries its first higher system again (5 minutes).</summary>
    public static readonly TimeSpan DefaultReturnAfter = TimeSpan.FromMinutes(5);

    public HigherSystems(IReadOnlyList<Uri> urls, TimeProvider? time = null)
    {
        if (urls.Count == 0)
        {
            throw new ArgumentException("At least one higher system is needed.", nameof(urls));
        }
        _urls = urls.ToList();
        _time = time ?? TimeProvider.System;
    }

    /// <summary>The higher systems in order of preference.</summary>
    public IReadOnlyList<Uri> All => _urls;

    /// <summary>How long a node stays on a stand-in before it tries its first higher system again.</summary>
    public TimeSpan ReturnAfter { get; set; } = DefaultReturnAfter;

    /// <summary>The higher system the next call goes to: the one in use, or the first again once <see cref="ReturnAfter"/> has passed on a stand-in.</summary>
    public Uri Current
    {
        get
        {
            Uri? left = null;
            Uri current;
            lock (_lock)
            {
                if (_index != 0 && _time.GetElapsedTime(_leftFirstAt) >= ReturnAfter)
                {
                    left = _urls[_index];
                    _index = 0;
                }
                current = _urls[_index];
            }
            if (left is not null)
            {
                Moved?.Invoke(left, current, true);
            }
            return current;
        }
    }

    /// <summary>
    /// Told when the next call goes to another higher system: from, to, and whether it is the return to the first after
    /// <see cref="ReturnAfter"/> (else a move on after a failure). For the node's log.
    /// </summary>
    public Action<Uri, Uri, bool>? Moved { get; set; }

    /// <summary>The higher system the last failed call went to (for the log line that says so), or null before any failed.</summary>
    public Uri? LastFailed { get; private set; }

    /// <summary>Whether the node is on its first higher system.</summary>
    public bool OnFirst
    {
        get
        {
            _ = Current;
            lock (_lock)
            {
                return _index == 0;
            }
        }
    }

    /// <summary>
    /// A call to <paramref name="failed"/> found it unable to serve: the next call goes to the next higher system (after the
    /// last, the first again). Returns the one the next call goes to; nothing moves when <paramref name="failed"/> is no
    /// longer the current one (another call moved on already) or there is only one.
    /// </summary>
    public Uri FailedOver(Uri failed)
    {
        Uri next;
        var moved = false;
        lock (_lock)
        {
            LastFailed = failed;
            if (_urls.Count > 1 && _urls[_index] == failed)
            {
                _index = (_index + 1) % _urls.Count;
                moved = true;
                if (_index != 0)
                {
                    _leftFirstAt = _time.GetTimestamp();
                }
            }
            next = _urls[_index];
        }
        if (moved)
        {
            Moved?.Invoke(failed, next, false);
        }
        return next;
    }

    /// <summary>The most higher systems a node may list.</summary>
    public const int MaxCount = 16;

    /// <summary>
    /// Reads a `--manager` value: one URL or several separated by commas, each http:// or https://. Null, with the reason
    /// in <paramref name="error"/>, when one is not a URL or one is given twice.
    /// </summary>
    public static IReadOnlyList<Uri>? Parse(string? text, out string? error)
    {
        error = null;
        var parts = (text ?? "").Split(',', StringSplitOptions.TrimEntries);
        if (parts.Length > MaxCount)
        {
            error = $"{parts.Length} higher systems are given; at most {MaxCount} are allowed.";
            return null;
        }
        var urls = new List<Uri>(parts.Length);
        foreach (var part in parts)
        {
            if (!Uri.TryCreate(part, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            {
                error = part.Length == 0
                    ? $"'{text}' names an empty higher system: give one URL, or several separated by commas (http:// or https://)."
                    : $"'{part}' is not an http:// or https:// URL.";
                return null;
            }
            if (urls.Contains(uri))
            {
                error = $"'{part}' is given twice.";
                return null;
            }
            urls.Add(uri);
        }
        return urls;
    }
}
