using JP1Dist.Contracts;
using JP1Dist.Core.Domain;
using JP1Dist.Protocol;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;

namespace JP1Dist.Core.Storage;

/// <summary>
/// The engine's tables, on SQLite (this type, with the migrations in Storage/Migrations) or on PostgreSQL
/// (<see cref="PostgresDistDbContext"/>, with its own migrations). Quartz keeps its own QRTZ_ tables in the same database.
/// </summary>
public class DistDbContext : DbContext
{
    public DistDbContext(DbContextOptions<DistDbContext> options)
        : base(options)
    {
    }

    /// <summary>For the PostgreSQL context: the same model, its own options type and migrations.</summary>
    protected DistDbContext(DbContextOptions options)
        : base(options)
    {
    }

    public DbSet<PackageRow> Packages => Set<PackageRow>();
    public DbSet<HostRow> Hosts => Set<HostRow>();
    public DbSet<EnrollmentTokenRow> EnrollmentTokens => Set<EnrollmentTokenRow>();
    public DbSet<JobRow> Jobs => Set<JobRow>();
    public DbSet<JobDestinationRow> JobDestinations => Set<JobDestinationRow>();
    public DbSet<JobExecutionRow> JobExecutions => Set<JobExecutionRow>();
    public DbSet<TargetRow> Targets => Set<TargetRow>();
    public DbSet<JobTargetCountRow> JobTargetCounts => Set<JobTargetCountRow>();
    public DbSet<ManagerNodeRow> ManagerNodes => Set<ManagerNodeRow>();
    public DbSet<HostSoftwareRow> HostSoftware => Set<HostSoftwareRow>();
    public DbSet<HostGroupRow> HostGroups => Set<HostGroupRow>();
    public DbSet<HostGroupMemberRow> HostGroupMembers => Set<HostGroupMemberRow>();
    public DbSet<HostGroupNestingRow> HostGroupNesting => Set<HostGroupNestingRow>();
    public DbSet<IdGroupRow> IdGroups => Set<IdGroupRow>();
    public DbSet<IdGroupMemberRow> IdGroupMembers => Set<IdGroupMemberRow>();
    public DbSet<JobHostGroupRow> JobHostGroups => Set<JobHostGroupRow>();
    public DbSet<SigningKeyRow> SigningKeys => Set<SigningKeyRow>();
    public DbSet<PendingEnrollmentRow> PendingEnrollments => Set<PendingEnrollmentRow>();
    public DbSet<RevokedCredentialRow> RevokedCredentials => Set<RevokedCredentialRow>();
    public DbSet<AccessKeyRow> AccessKeys => Set<AccessKeyRow>();
    public DbSet<AuditEntryRow> AuditEntries => Set<AuditEntryRow>();
    public DbSet<OfflineMediaRow> OfflineMedia => Set<OfflineMediaRow>();
    public DbSet<WakeOrderRow> WakeOrders => Set<WakeOrderRow>();
    public DbSet<PowerOrderRow> PowerOrders => Set<PowerOrderRow>();

    protected override void ConfigureConventions(ModelConfigurationBuilder configurationBuilder)
    {
        // Every time is UTC, to the microsecond; SQLite stores text, so the kind must be put back on read.
        configurationBuilder.Properties<DateTime>().HaveConversion<UtcDateTimeConverter>();
        configurationBuilder.Properties<DateTime?>().HaveConversion<UtcDateTimeConverter>();
    }

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<PackageRow>(e =>
        {
            e.ToTable("Packages");
            e.HasIndex(p => new { p.NameKey, p.Version }).IsUnique();
        });
        modelBuilder.Entity<HostRow>(e =>
        {
            e.ToTable("Hosts");
            e.HasIndex(h => h.NameKey).IsUnique();
            // Hosts in name order with their ids, from the index alone: a job's status read in host name order probes its
            // targets by (JobId, HostId) host after host without reading the host rows it passes over (JobService.StreamStatusAsync).
            e.HasIndex(h => new { h.NameKey, h.Id });
            e.HasIndex(h => h.ParentHostId);
            // Removing a relay moves its lower hosts up first (HostService.RemoveAsync), so no host points at a gone one.
            e.HasOne<HostRow>().WithMany().HasForeignKey(h => h.ParentHostId).OnDelete(DeleteBehavior.Restrict);
            e.Property(h => h.Kind).HasConversion<int>();
        });
        modelBuilder.Entity<EnrollmentTokenRow>(e =>
        {
            e.ToTable("EnrollmentTokens");
            e.HasIndex(t => t.TokenHash).IsUnique();
        });
        modelBuilder.Entity<JobRow>(e =>
        {
            e.ToTable("Jobs");
            e.HasIndex(j => j.NameKey).IsUnique();
            e.HasIndex(j => j.PackageId);
            e.HasOne<PackageRow>().WithMany().HasForeignKey(j => j.PackageId).OnDelete(DeleteBehavior.Restrict);
            e.HasMany(j => j.Destinations).WithOne().HasForeignKey(d => d.JobId).OnDelete(DeleteBehavior.Cascade);
            e.Property(j => j.DestinationType).HasConversion<int>();
            e.HasIndex(j => j.IdGroupId);
            e.HasOne<IdGroupRow>().WithMany().HasForeignKey(j => j.IdGroupId).OnDelete(DeleteBehavior.Restrict);
        });
        modelBuilder.Entity<JobDestinationRow>(e =>
        {
            e.ToTable("JobDestinations");
            e.HasKey(d => new { d.JobId, d.HostId });
            e.HasOne<HostRow>().WithMany().HasForeignKey(d => d.HostId).OnDelete(DeleteBehavior.Restrict);
        });
        modelBuilder.Entity<JobExecutionRow>(e =>
        {
            e.ToTable("JobExecutions");
            e.HasIndex(x => x.ScheduledAt);
            e.HasOne<JobRow>().WithMany().HasForeignKey(x => x.JobId).OnDelete(DeleteBehavior.Cascade);
        });
        modelBuilder.Entity<TargetRow>(e =>
        {
            e.ToTable("Targets");
            e.HasIndex(t => new { t.JobId, t.HostId }).IsUnique();
            e.HasIndex(t => new { t.JobId, t.Status });
            e.HasIndex(t => new { t.HostId, t.Status });
            e.HasIndex(t => t.WorkItemId).IsUnique();
            e.HasIndex(t => t.ExecutionId);
            // A concurrency token: a tracked target saved with a new status is a compare-and-set on the status it was read
            // with (WHERE "Status" = old), so the counts moved from the old status are exact (JobService.RecordExecutionAsync).
            e.Property(t => t.Status).HasConversion<int>().IsConcurrencyToken();
            e.HasOne<JobRow>().WithMany().HasForeignKey(t => t.JobId).OnDelete(DeleteBehavior.Cascade);
            e.HasOne<HostRow>().WithMany().HasForeignKey(t => t.HostId).OnDelete(DeleteBehavior.Restrict);
        });
        modelBuilder.Entity<JobTargetCountRow>(e =>
        {
            e.ToTable("JobTargetCounts");
            e.HasKey(c => new { c.JobId, c.Status });
            e.Property(c => c.Status).HasConversion<int>();
            e.HasOne<JobRow>().WithMany().HasForeignKey(c => c.JobId).OnDelete(DeleteBehavior.Cascade);
        });
        modelBuilder.Entity<HostSoftwareRow>(e =>
        {
            e.ToTable("HostSoftware");
            e.HasIndex(s => new { s.HostId, s.NameKey });
            e.HasIndex(s => s.NameKey);
            e.HasOne<HostRow>().WithMany().HasForeignKey(s => s.HostId).OnDelete(DeleteBehavior.Cascade);
        });
        modelBuilder.Entity<HostGroupRow>(e =>
        {
            e.ToTable("HostGroups");
            e.HasIndex(g => g.NameKey).IsUnique();
        });
        modelBuilder.Entity<HostGroupMemberRow>(e =>
        {
            e.ToTable("HostGroupMembers");
            e.HasKey(m => new { m.GroupId, m.HostId });
            e.HasIndex(m => m.HostId);
            e.HasOne<HostGroupRow>().WithMany().HasForeignKey(m => m.GroupId).OnDelete(DeleteBehavior.Cascade);
            e.HasOne<HostRow>().WithMany().HasForeignKey(m => m.HostId).OnDelete(DeleteBehavior.Cascade);
        });
        modelBuilder.Entity<HostGroupNestingRow>(e =>
        {
            e.ToTable("HostGroupNesting");
            e.HasKey(n => new { n.ParentId, n.ChildId });
            e.HasIndex(n => n.ChildId);
            e.HasOne<HostGroupRow>().WithMany().HasForeignKey(n => n.ParentId).OnDelete(DeleteBehavior.Cascade);
            e.HasOne<HostGroupRow>().WithMany().HasForeignKey(n => n.ChildId).OnDelete(DeleteBehavior.Cascade);
        });
        modelBuilder.Entity<IdGroupRow>(e =>
        {
            e.ToTable("IdGroups");
            e.HasIndex(g => g.NameKey).IsUnique();
        });
        modelBuilder.Entity<IdGroupMemberRow>(e =>
        {
            e.ToTable("IdGroupMembers");
            e.HasKey(m => new { m.IdGroupId, m.HostId });
            e.HasIndex(m => m.HostId);
            e.Property(m => m.Source).HasConversion<int>();
            e.HasOne<IdGroupRow>().WithMany().HasForeignKey(m => m.IdGroupId).OnDelete(DeleteBehavior.Cascade);
            e.HasOne<HostRow>().WithMany().HasForeignKey(m => m.HostId).OnDelete(DeleteBehavior.Cascade);
        });
        modelBuilder.Entity<JobHostGroupRow>(e =>
        {
            e.ToTable("JobHostGroups");
            e.HasKey(d => new { d.JobId, d.HostGroupId });
            e.HasIndex(d => d.HostGroupId);
            e.HasOne<JobRow>().WithMany().HasForeignKey(d => d.JobId).OnDelete(DeleteBehavior.Cascade);
            e.HasOne<HostGroupRow>().WithMany().HasForeignKey(d => d.HostGroupId).OnDelete(DeleteBehavior.Restrict);
        });
        modelBuilder.Entity<PendingEnrollmentRow>(e =>
        {
            e.ToTable("PendingEnrollments");
            e.HasIndex(p => p.HostId);
            // One registration waits per name; approved rows are history and do not hold the name.
            e.HasIndex(p => p.NameKey).IsUnique().HasFilter("ApprovedAt IS NULL");
            e.Property(p => p.Kind).HasConversion<int>();
        });
        modelBuilder.Entity<PowerOrderRow>(e =>
        {
            e.ToTable("PowerOrders");
            e.HasIndex(p => new { p.HostId, p.State });
            e.Property(p => p.State).HasConversion<int>();
        });
        modelBuilder.Entity<WakeOrderRow>(e =>
        {
            e.ToTable("WakeOrders");
            e.HasIndex(w => w.ExpiresAt);
        });
        modelBuilder.Entity<RevokedCredentialRow>(e =>
        {
            e.ToTable("RevokedCredentials");
            e.HasIndex(r => new { r.HostId, r.CredentialHash }).IsUnique();
        });
        modelBuilder.Entity<OfflineMediaRow>(e =>
        {
            e.ToTable("OfflineMedia");
            e.HasKey(m => m.Id);
            e.HasIndex(m => m.TargetId);
            e.HasOne<TargetRow>().WithMany().HasForeignKey(m => m.TargetId).OnDelete(DeleteBehavior.Cascade);
        });
        modelBuilder.Entity<AccessKeyRow>(e =>
        {
            e.ToTable("AccessKeys");
            e.HasIndex(k => k.KeyId).IsUnique();
            // One key per name among those not removed; removed keys are history and do not hold the name.
            e.HasIndex(k => k.NameKey).IsUnique().HasFilter("RemovedAt IS NULL");
            e.Property(k => k.Role).HasConversion<int>();
        });
        modelBuilder.Entity<AuditEntryRow>(e =>
        {
            e.ToTable("AuditEntries");
            e.HasIndex(a => a.At);
            e.Property(a => a.Outcome).HasConversion<int>();
        });
        modelBuilder.Entity<ManagerNodeRow>(e =>
        {
            e.ToTable("ManagerNodes");
            e.HasKey(m => m.NodeId);
        });
        modelBuilder.Entity<SigningKeyRow>(e =>
        {
            e.ToTable("SigningKeys");
            e.HasIndex(k => k.Fingerprint).IsUnique();
            e.HasIndex(k => k.PredecessorId).IsUnique();
            e.HasOne<SigningKeyRow>().WithMany().HasForeignKey(k => k.PredecessorId).OnDelete(DeleteBehavior.Restrict);
        });
    }

    public override int SaveChanges(bool acceptAllChangesOnSuccess)
    {
        CutTimes();
        return base.SaveChanges(acceptAllChangesOnSuccess);
    }

    public override Task<int> SaveChangesAsync(bool acceptAllChangesOnSuccess, CancellationToken cancellationToken = default)
    {
        CutTimes();
        return base.SaveChangesAsync(acceptAllChangesOnSuccess, cancellationToken);
    }

    /// <summary>Cuts the times of what is about to be saved to <see cref="StoredTime"/>'s precision, in the objects themselves.</summary>
    private void CutTimes()
    {
        foreach (var entry in ChangeTracker.Entries())
        {
            if (entry.State is not (EntityState.Added or EntityState.Modified))
            {
                continue;
            }
            foreach (var property in entry.Properties)
            {
                if (property.CurrentValue is DateTime time && StoredTime.Of(time) is var cut && cut != time)
                {
                    property.CurrentValue = cut;
                }
            }
        }
    }

    /// <summary>UTC and whole microseconds on write (<see cref="StoredTime"/>), also for values set by ExecuteUpdate; UTC kind on read.</summary>
    private sealed class UtcDateTimeConverter() : ValueConverter<DateTime, DateTime>(
        v => StoredTime.Of(v),
        v => DateTime.SpecifyKind(v, DateTimeKind.Utc));
}
