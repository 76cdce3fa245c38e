namespace JP1Dist.Protocol;

/// <summary>What kind of mistake a <see cref="DistException"/> reports, mapped to a PowerShell error category and an HTTP status.</summary>
public enum DistErrorKind
{
    /// <summary>A parameter value is malformed or out of range.</summary>
    InvalidArgument,
    /// <summary>A named object does not exist.</summary>
    NotFound,
    /// <summary>An object with that identity already exists.</summary>
    AlreadyExists,
    /// <summary>The operation conflicts with the current state (for example removing a package an active job uses).</summary>
    InvalidOperation,
    /// <summary>The caller is not allowed (bad token or credential).</summary>
    Unauthorized,
    /// <summary>A needed service (the manager) is not reachable.</summary>
    NotAvailable,
    /// <summary>The caller is known but not allowed this (a host that is not a relay, a relay asking for a host outside its subtree).</summary>
    Forbidden,
}

/// <summary>An error the engine reports to a person: a stable id, a kind, and a message naming what was wrong.</summary>
public sealed class DistException : Exception
{
    public DistException(string errorId, DistErrorKind kind, string message, object? target = null, Exception? inner = null)
        : base(message, inner)
    {
        ErrorId = errorId;
        Kind = kind;
        Target = target;
    }

    /// <summary>A stable, searchable id such as <c>PackageAlreadyExists</c>.</summary>
    public string ErrorId { get; }

    /// <summary>The kind of mistake.</summary>
    public DistErrorKind Kind { get; }

    /// <summary>The object the error is about (a name), if any.</summary>
    public object? Target { get; }
}
