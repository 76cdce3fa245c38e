using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace JP1Dist.Core.Storage;

/// <summary>Lets <c>dotnet ef migrations add</c> build the SQLite model without a running process.</summary>
internal sealed class DesignTimeFactory : IDesignTimeDbContextFactory<DistDbContext>
{
    public DistDbContext CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<DistDbContext>().UseSqlite("Data Source=design.db").Options);
}

/// <summary>
/// The same for the PostgreSQL model (<c>dotnet ef migrations add NAME --context PostgresDistDbContext -o
/// Storage/PostgresMigrations</c>); nothing connects to the server named here.
/// </summary>
internal sealed class PostgresDesignTimeFactory : IDesignTimeDbContextFactory<PostgresDistDbContext>
{
    public PostgresDistDbContext CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<PostgresDistDbContext>().UseNpgsql("Host=localhost;Database=jp1dist").Options);
}
