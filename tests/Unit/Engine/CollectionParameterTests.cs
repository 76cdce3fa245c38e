using JP1Dist.Core.Storage;
using Microsoft.EntityFrameworkCore;
using Xunit;

namespace JP1Dist.Tests.Engine;

/// <summary>
/// A query's list goes to the database as one parameter (DistDatabase): more elements than either database takes SQL
/// parameters in one statement, Guids matched against their stored text, in a query built at run time, in a compiled one
/// (as a batch of reports reads its targets) and in a bulk update (as last-seen times are written).
/// </summary>
public sealed class CollectionParameterTests : IDisposable
{
    private readonly TestFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    // Past SQLite's 32,766 variables and PostgreSQL's 65,535 parameters in one statement.
    private const int ListLength = 70_000;

    private static readonly Func<DistDbContext, List<Guid>, IAsyncEnumerable<string>> NamesCompiled = EF.CompileAsyncQuery(
        (DistDbContext db, List<Guid> ids) => db.Hosts.AsNoTracking().Where(h => ids.Contains(h.Id)).OrderBy(h => h.NameKey).Select(h => h.NameKey));

    [Fact]
    public async Task A_list_longer_than_a_statement_takes_parameters_finds_exactly_its_rows()
    {
        var hosts = new[] { "pc-a", "pc-b", "pc-c" }.Select(n => new HostRow { Id = Guid.NewGuid(), Name = n, NameKey = n, CredentialHash = "" }).ToList();
        await using (var db = _folder.Engine.Database.CreateContext())
        {
            db.Hosts.AddRange(hosts);
            await db.SaveChangesAsync();
        }
        var ids = Enumerable.Range(0, ListLength - 2).Select(_ => Guid.NewGuid()).ToList();
        ids.Insert(ListLength / 2, hosts[0].Id);
        ids.Add(hosts[2].Id);
        var at = new DateTime(2026, 12, 7, 10, 0, 0, DateTimeKind.Utc);

        await using (var db = _folder.Engine.Database.CreateContext())
        {
            var atRunTime = await db.Hosts.AsNoTracking().Where(h => ids.Contains(h.Id)).OrderBy(h => h.NameKey).Select(h => h.NameKey).ToListAsync();
            Assert.Equal(["pc-a", "pc-c"], atRunTime);

            var compiled = new List<string>();
            await foreach (var name in NamesCompiled(db, ids))
            {
                compiled.Add(name);
            }
            Assert.Equal(atRunTime, compiled);

            // An empty list finds nothing (and is not an error): a variable, so that it goes as a parameter too.
            var none = new List<Guid>();
            Assert.Empty(await db.Hosts.AsNoTracking().Where(h => none.Contains(h.Id)).ToListAsync());

            var updated = await db.Hosts.Where(h => ids.Contains(h.Id)).ExecuteUpdateAsync(s => s.SetProperty(h => h.LastSeen, at));
            Assert.Equal(2, updated);
        }
        await using (var db = _folder.Engine.Database.CreateContext())
        {
            var seen = await db.Hosts.AsNoTracking().OrderBy(h => h.NameKey).Select(h => new { h.NameKey, h.LastSeen }).ToListAsync();
            Assert.Equal([("pc-a", true), ("pc-b", false), ("pc-c", true)], seen.Select(s => (s.NameKey, s.LastSeen == at)).ToList());
        }
    }
}
