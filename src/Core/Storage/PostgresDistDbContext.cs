using JP1Dist.Core.Domain;
using Microsoft.EntityFrameworkCore;

namespace JP1Dist.Core.Storage;

/// <summary>
/// The engine's tables on PostgreSQL: the model of <see cref="DistDbContext"/>, with PostgreSQL's spelling where the
/// two differ. Its own type, so that its migrations (Storage/PostgresMigrations) are found for it and the SQLite ones
/// are not.
/// </summary>
public sealed class PostgresDistDbContext(DbContextOptions<PostgresDistDbContext> options) : DistDbContext(options)
{
    protected override void ConfigureConventions(ModelConfigurationBuilder configurationBuilder)
    {
        base.ConfigureConventions(configurationBuilder);
        // Names sort and compare by code point, as on SQLite, whatever locale the database was created with:
        // a listing comes out in the same order on both, and an index serves an ordered read on both.
        configurationBuilder.Properties<string>().UseCollation("C");
    }

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        base.OnModelCreating(modelBuilder);
        // PostgreSQL folds unquoted names to lower case; the tables' columns are quoted mixed case.
        modelBuilder.Entity<PendingEnrollmentRow>().HasIndex(p => p.NameKey).HasFilter("\"ApprovedAt\" IS NULL");
        modelBuilder.Entity<AccessKeyRow>().HasIndex(k => k.NameKey).HasFilter("\"RemovedAt\" IS NULL");
    }
}
