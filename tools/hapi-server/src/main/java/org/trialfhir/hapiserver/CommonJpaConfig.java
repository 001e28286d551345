package org.trialfhir.hapiserver;

import ca.uhn.fhir.batch2.jobs.config.Batch2JobsConfig;
import ca.uhn.fhir.batch2.maintenance.JobMaintenanceServiceImpl;
import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.jpa.api.config.JpaStorageSettings;
import ca.uhn.fhir.jpa.api.config.ThreadPoolFactoryConfig;
import ca.uhn.fhir.jpa.batch2.JpaBatch2Config;
import ca.uhn.fhir.jpa.binary.api.IBinaryStorageSvc;
import ca.uhn.fhir.jpa.binstore.MemoryBinaryStorageSvcImpl;
import ca.uhn.fhir.jpa.config.HapiJpaConfig;
import ca.uhn.fhir.jpa.config.util.HapiEntityManagerFactoryUtil;
import ca.uhn.fhir.jpa.model.config.PartitionSettings;
import ca.uhn.fhir.jpa.model.config.SubscriptionSettings;
import ca.uhn.fhir.jpa.model.dialect.HapiFhirH2Dialect;
import ca.uhn.fhir.jpa.searchparam.submit.config.SearchParamSubmitterConfig;
import ca.uhn.fhir.jpa.subscription.channel.config.SubscriptionChannelConfig;
import jakarta.persistence.EntityManagerFactory;
import java.util.Properties;
import javax.sql.DataSource;
import org.apache.commons.dbcp2.BasicDataSource;
import org.springframework.beans.factory.config.BeanPostProcessor;
import org.springframework.beans.factory.config.ConfigurableListableBeanFactory;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Import;
import org.springframework.context.annotation.Primary;
import org.springframework.orm.jpa.JpaTransactionManager;
import org.springframework.orm.jpa.LocalContainerEntityManagerFactoryBean;
import org.springframework.transaction.annotation.EnableTransactionManagement;

/**
 * Beans shared by the R4 and R5 servers: an in-memory H2 database, the JPA entity manager
 * factory / transaction manager, and the HAPI storage settings suited to a throw-away test server.
 */
@Configuration
@EnableTransactionManagement
@Import({
	HapiJpaConfig.class,
	JpaBatch2Config.class,
	Batch2JobsConfig.class,
	ThreadPoolFactoryConfig.class,
	SubscriptionChannelConfig.class,
	SearchParamSubmitterConfig.class
})
public class CommonJpaConfig {

	/** Resources per bulk export NDJSON file (HAPI's default is 1000). */
	static final int BULK_EXPORT_FILE_CAPACITY = 5;

	static final long JOB_MAINTENANCE_INTERVAL_MS = 1000;

	/** Name of the in-memory database; one JVM serves one FHIR version. */
	static String databaseName() {
		return "hapi_" + System.getProperty("hapi.server.fhirVersion", "r4").toLowerCase();
	}

	@Bean(destroyMethod = "close")
	public BasicDataSource dataSource() {
		BasicDataSource ds = new BasicDataSource();
		ds.setDriver(new org.h2.Driver());
		// DB_CLOSE_DELAY=-1 keeps the database alive while the pool has no open connection.
		ds.setUrl("jdbc:h2:mem:" + databaseName() + ";DB_CLOSE_DELAY=-1");
		ds.setUsername("sa");
		ds.setPassword("");
		ds.setMaxTotal(10);
		ds.setMaxWait(java.time.Duration.ofSeconds(30));
		return ds;
	}

	@Bean
	public JpaStorageSettings storageSettings() {
		JpaStorageSettings s = new JpaStorageSettings();
		// A test server: a search must see the writes made just before it, so never reuse
		// cached results of an identical earlier search (HAPI's default reuses them for 60 s).
		s.setReuseCachedSearchResultsForMillis(null);
		// Like the public hapi.fhir.org test servers.
		s.setAllowExternalReferences(true);
		// Let tests clean up: DELETE Observation?..., $expunge.
		s.setAllowMultipleDelete(true);
		s.setExpungeEnabled(true);
		s.setDeleteExpungeEnabled(true);
		// Bulk Data $export (the provider is registered in HapiServerMain). Every kick-off starts a new
		// job: reusing an earlier identical job would hand a test the files of a job it already deleted.
		s.setEnableTaskBulkExportJobExecution(true);
		s.setEnableBulkExportJobReuse(false);
		// Few resources per NDJSON file, so a small test export already spans several files of one type.
		s.setBulkExportFileMaximumCapacity(BULK_EXPORT_FILE_CAPACITY);
		// Let a batch2 job move to its next step as soon as its single work chunk is done, instead of
		// waiting for the next maintenance pass.
		s.setJobFastTrackingEnabled(true);
		return s;
	}

	/**
	 * Batch2 job steps (bulk export among them) advance in a maintenance pass, once a minute by
	 * default; a test waits for the export, so run the pass every second. Set before the bean's
	 * scheduled job is registered.
	 */
	@Bean
	public static BeanPostProcessor fastJobMaintenance() {
		return new BeanPostProcessor() {
			@Override
			public Object postProcessBeforeInitialization(Object bean, String beanName) {
				if (bean instanceof JobMaintenanceServiceImpl maintenance) {
					maintenance.setScheduledJobFrequencyMillis(JOB_MAINTENANCE_INTERVAL_MS);
				}
				return bean;
			}
		};
	}

	@Bean
	public PartitionSettings partitionSettings() {
		return new PartitionSettings();
	}

	@Bean
	public SubscriptionSettings subscriptionSettings() {
		return new SubscriptionSettings();
	}

	@Bean
	public IBinaryStorageSvc binaryStorage() {
		return new MemoryBinaryStorageSvcImpl();
	}

	@Primary
	@Bean
	public LocalContainerEntityManagerFactoryBean entityManagerFactory(
			ConfigurableListableBeanFactory beanFactory,
			FhirContext fhirContext,
			JpaStorageSettings storageSettings,
			DataSource dataSource) {
		LocalContainerEntityManagerFactoryBean emf =
				HapiEntityManagerFactoryUtil.newEntityManagerFactory(beanFactory, fhirContext, storageSettings);
		emf.setPersistenceUnitName("HAPI_PU");
		emf.setDataSource(dataSource);
		Properties p = new Properties();
		p.put("hibernate.dialect", HapiFhirH2Dialect.class.getName());
		p.put("hibernate.hbm2ddl.auto", "update");
		p.put("hibernate.format_sql", "false");
		p.put("hibernate.show_sql", "false");
		p.put("hibernate.jdbc.batch_size", "20");
		p.put("hibernate.cache.use_query_cache", "false");
		p.put("hibernate.cache.use_second_level_cache", "false");
		p.put("hibernate.cache.use_structured_entries", "false");
		p.put("hibernate.cache.use_minimal_puts", "false");
		// No full-text (Lucene / Elasticsearch) index: plain SQL search only.
		p.put("hibernate.search.enabled", "false");
		emf.setJpaProperties(p);
		return emf;
	}

	@Primary
	@Bean
	public JpaTransactionManager transactionManager(EntityManagerFactory entityManagerFactory) {
		JpaTransactionManager tm = new JpaTransactionManager();
		tm.setEntityManagerFactory(entityManagerFactory);
		return tm;
	}
}
