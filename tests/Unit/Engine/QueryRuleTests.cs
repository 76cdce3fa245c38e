using JP1Dist.Contracts;
using JP1Dist.Core.Storage;
using Microsoft.EntityFrameworkCore;
using Xunit;

namespace JP1Dist.Tests.Engine;

/// <summary>
/// A rule written once (QueryRule) reads the same rows in a query built at run time and inside a compiled query; and the
/// contexts the engine hands out come from a pool without carrying one lease's state into the next.
/// </summary>
public sealed class QueryRuleTests : IDisposable
{
    private readonly TestFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    // Relays whose name starts with a prefix; built on another rule, so that a rule inside a rule is expanded too.
    private static readonly QueryRule<DistDbContext, IQueryable<HostRow>> Relays = new(db => db.Hosts.AsNoTracking().Where(h => h.Kind == HostKind.Relay));
    private static readonly QueryRule<DistDbContext, string, IQueryable<HostRow>> RelaysNamed = new((db, prefix) =>
        Relays.Apply(db).Where(h => h.NameKey.StartsWith(prefix)));

    private static readonly Func<DistDbContext, string, IAsyncEnumerable<string>> RelaysNamedCompiled = EF.CompileAsyncQuery(QueryRule.Inline(
        (DistDbContext db, string prefix) => RelaysNamed.Apply(db, prefix).OrderBy(h => h.NameKey).Select(h => h.NameKey)));

    [Fact]
    public async Task A_rule_reads_the_same_rows_at_run_time_and_compiled()
    {
        await using (var db = _folder.Engine.Database.CreateContext())
        {
            db.Hosts.AddRange(
                new HostRow { Id = Guid.NewGuid(), Name = "r-east", NameKey = "r-east", CredentialHash = "", Kind = HostKind.Relay },
                new HostRow { Id = Guid.NewGuid(), Name = "r-west", NameKey = "r-west", CredentialHash = "", Kind = HostKind.Relay },
                new HostRow { Id = Guid.NewGuid(), Name = "r-pc", NameKey = "r-pc", CredentialHash = "" },
                new HostRow { Id = Guid.NewGuid(), Name = "x-relay", NameKey = "x-relay", CredentialHash = "", Kind = HostKind.Relay });
            await db.SaveChangesAsync();
        }
        await using (var db = _folder.Engine.Database.CreateContext())
        {
            var atRunTime = await RelaysNamed.Apply(db, "r-").OrderBy(h => h.NameKey).Select(h => h.NameKey).ToListAsync();
            var compiled = new List<string>();
            await foreach (var name in RelaysNamedCompiled(db, "r-"))
            {
                compiled.Add(name);
            }
            Assert.Equal(["r-east", "r-west"], atRunTime);
            Assert.Equal(atRunTime, compiled);
            // The compiled query takes its arguments at each call, not from the first.
            var other = new List<string>();
            await foreach (var name in RelaysNamedCompiled(db, "x-"))
            {
                other.Add(name);
            }
            Assert.Equal(["x-relay"], other);
        }
    }

    [Fact]
    public async Task A_context_from_the_pool_starts_as_a_new_one()
    {
        await using (var db = _folder.Engine.Database.CreateContext())
        {
            db.Database.AutoSavepointsEnabled = false;
            await db.Database.BeginTransactionAsync();
            db.Hosts.Add(new HostRow { Id = Guid.NewGuid(), Name = "uncommitted", NameKey = "uncommitted", CredentialHash = "" });
            await db.SaveChangesAsync();
            db.Hosts.Add(new HostRow { Id = Guid.NewGuid(), Name = "tracked", NameKey = "tracked", CredentialHash = "" });
            // Returned to the pool with its transaction open and an entity still tracked.
        }
        for (var i = 0; i < 3; i++)
        {
            await using var db = _folder.Engine.Database.CreateContext();
            Assert.True(db.Database.AutoSavepointsEnabled);
            Assert.Null(db.Database.CurrentTransaction);
            Assert.Empty(db.ChangeTracker.Entries());
            Assert.False(await db.Hosts.AnyAsync(h => h.NameKey == "uncommitted" || h.NameKey == "tracked"));
        }
    }
}
