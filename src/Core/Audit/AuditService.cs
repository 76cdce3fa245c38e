using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using JP1Dist.Contracts;
using JP1Dist.Core.Domain;
using JP1Dist.Core.Storage;
using JP1Dist.Protocol;
using Microsoft.EntityFrameworkCore;

namespace JP1Dist.Core.Audit;

/// <summary>
/// The audit log: who may make a change (the role table, <see cref="DistOperations"/>), the entry every change writes, and
/// reading the log. A change asks <see cref="AuthorizeAsync"/> first, which refuses a caller whose role is too low
/// (PermissionDenied, recorded as a Denied entry, nothing else changed), and then records its entry in the context and
/// transaction of the change itself, so that a change that fails leaves no entry and one that is committed always has one.
/// </summary>
public sealed class AuditService(DistEngine engine) : IAuditService
{
    /// <summary>How parameters are written: nulls left out, enums by name, text readable as typed (the JSON is shown, not embedded in HTML).</summary>
    private static readonly JsonSerializerOptions ParameterJson = new()
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter() },
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    internal DistDatabase Database => engine.Database;

    /// <summary>
    /// Lets the engine's caller go on with <paramref name="operation"/>, or refuses it: a caller whose role is below the one
    /// the operation needs gets PermissionDenied naming that role, and a Denied entry records the attempt.
    /// </summary>
    /// <param name="operation">A name of <see cref="DistOperations"/>: what the change is, in the role table and in the log.</param>
    /// <param name="target">What the change is about as the caller named it, for the entry of a refusal.</param>
    /// <param name="cancellationToken">Cancels the check; a refusal is recorded regardless.</param>
    internal async Task<AuditedChange> AuthorizeAsync(string operation, string? target, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var caller = engine.Caller;
        var needed = DistOperations.RequiredRole(operation);
        if (caller.Role >= needed)
        {
            return new AuditedChange(this, operation);
        }
        await using (var db = engine.Database.CreateContext())
        {
            db.AuditEntries.Add(Entry(operation, target ?? "", null, AuditOutcome.Denied));
            await db.SaveChangesAsync(CancellationToken.None);
        }
        throw new DistException("PermissionDenied", DistErrorKind.Forbidden,
            $"{operation} needs the role {needed}; '{caller.Principal}' has the role {caller.Role}. Nothing was changed.", target);
    }

    /// <summary>
    /// Refuses the engine's caller an operation its role does not allow, as a change itself would (PermissionDenied, recorded
    /// as Denied), without doing anything else: for the admin API to refuse a request before it reads its body (an upload).
    /// </summary>
    public async Task RequireAsync(string operation, string? target, CancellationToken cancellationToken = default) =>
        await AuthorizeAsync(operation, target, cancellationToken);

    /// <summary>A new entry for the engine's caller, now.</summary>
    internal AuditEntryRow Entry(string operation, string target, object? parameters, AuditOutcome outcome) => new()
    {
        At = engine.Now,
        Principal = engine.Caller.Principal,
        Source = engine.Caller.Source,
        Operation = operation,
        Target = target,
        ParametersJson = parameters is null ? "{}" : JsonSerializer.Serialize(parameters, parameters.GetType(), ParameterJson),
        Outcome = outcome,
    };

    /// <inheritdoc />
    public async Task<IReadOnlyList<DistAuditEntry>> ListAsync(AuditQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (query.First is < 1 or > AuditQuery.MaxFirst)
        {
            throw new DistException("AuditFirstInvalid", DistErrorKind.InvalidArgument,
                $"-First must be 1 to {AuditQuery.MaxFirst}; it was {query.First}.", query.First);
        }
        var principal = Wildcard.For(query.Principal);
        var operation = Wildcard.For(query.Operation);
        var target = Wildcard.For(query.Target);
        await using var db = engine.Database.CreateContext();
        var rows = db.AuditEntries.AsNoTracking();
        if (query.Since is { } since)
        {
            var utc = since.ToUniversalTime();
            rows = rows.Where(a => a.At >= utc);
        }
        // Newest first, read as a stream and stopped at the bound: the patterns are matched here, with the product's one
        // wildcard rule, so a query reads only as far back as it needs to.
        var found = new List<DistAuditEntry>();
        await foreach (var row in rows.OrderByDescending(a => a.Id).AsAsyncEnumerable().WithCancellation(cancellationToken))
        {
            if (principal(row.Principal) && (operation(row.Operation) || operation(DistOperations.CurrentName(row.Operation))) && target(row.Target))
            {
                found.Add(new DistAuditEntry(row.Id, row.At.AsLocal(), row.Principal, row.Source, row.Operation, row.Target, row.ParametersJson, row.Outcome));
                if (found.Count == query.First)
                {
                    break;
                }
            }
        }
        return found;
    }
}

/// <summary>A change the caller may make (<see cref="AuditService.AuthorizeAsync"/>); it records its entry once it knows its target.</summary>
internal readonly record struct AuditedChange(AuditService Audit, string Operation)
{
    /// <summary>Adds the entry to the change's context: saved by its SaveChanges, in its transaction, or not at all.</summary>
    public void Record(DistDbContext db, string target, object? parameters = null) =>
        db.AuditEntries.Add(Audit.Entry(Operation, target, parameters, AuditOutcome.Succeeded));

    /// <summary>Writes the entry on its own, for a change that is not a database transaction (starting or stopping a manager process).</summary>
    public async Task RecordAsync(string target, object? parameters, CancellationToken cancellationToken)
    {
        await using var db = Audit.Database.CreateContext();
        Record(db, target, parameters);
        await db.SaveChangesAsync(cancellationToken);
    }
}
