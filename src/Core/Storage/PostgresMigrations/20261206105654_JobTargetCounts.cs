using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace JP1Dist.Core.Storage.PostgresMigrations
{
    /// <summary>Counts of each job's targets by status, kept as they change; and the hosts' (name, id) index.</summary>
    public partial class JobTargetCounts : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "JobTargetCounts",
                columns: table => new
                {
                    JobId = table.Column<int>(type: "integer", nullable: false),
                    Status = table.Column<int>(type: "integer", nullable: false),
                    Count = table.Column<int>(type: "integer", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_JobTargetCounts", x => new { x.JobId, x.Status });
                    table.ForeignKey(
                        name: "FK_JobTargetCounts_Jobs_JobId",
                        column: x => x.JobId,
                        principalTable: "Jobs",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                });

            // As on SQLite: a database with targets gets its counts from them, and every job its rows (0 where none).
            migrationBuilder.Sql("""
                INSERT INTO "JobTargetCounts" ("JobId", "Status", "Count")
                SELECT "JobId", "Status", COUNT(*) FROM "Targets" GROUP BY "JobId", "Status";
                """);
            migrationBuilder.Sql($"""
                INSERT INTO "JobTargetCounts" ("JobId", "Status", "Count")
                SELECT j."Id", s."Status", 0
                FROM "Jobs" AS j CROSS JOIN ({string.Join(" UNION ALL ", Enumerable.Range(0, 13).Select(v => $"SELECT {v} AS \"Status\""))}) AS s
                WHERE NOT EXISTS (SELECT 1 FROM "JobTargetCounts" AS c WHERE c."JobId" = j."Id" AND c."Status" = s."Status");
                """);

            migrationBuilder.CreateIndex(
                name: "IX_Hosts_NameKey_Id",
                table: "Hosts",
                columns: new[] { "NameKey", "Id" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "JobTargetCounts");

            migrationBuilder.DropIndex(
                name: "IX_Hosts_NameKey_Id",
                table: "Hosts");
        }
    }
}
