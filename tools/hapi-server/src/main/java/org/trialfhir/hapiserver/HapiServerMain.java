package org.trialfhir.hapiserver;

import ca.uhn.fhir.batch2.jobs.export.BulkDataExportProvider;
import ca.uhn.fhir.context.support.IValidationSupport;
import ca.uhn.fhir.jpa.api.config.JpaStorageSettings;
import ca.uhn.fhir.jpa.api.dao.IFhirSystemDao;
import ca.uhn.fhir.jpa.provider.IJpaSystemProvider;
import ca.uhn.fhir.jpa.provider.JpaCapabilityStatementProvider;
import ca.uhn.fhir.jpa.provider.ValueSetOperationProvider;
import ca.uhn.fhir.jpa.search.DatabaseBackedPagingProvider;
import ca.uhn.fhir.narrative2.NullNarrativeGenerator;
import ca.uhn.fhir.rest.api.EncodingEnum;
import ca.uhn.fhir.rest.server.IncomingRequestAddressStrategy;
import ca.uhn.fhir.rest.server.RestfulServer;
import ca.uhn.fhir.rest.server.provider.ResourceProviderFactory;
import ca.uhn.fhir.rest.server.util.ISearchParamRegistry;
import java.util.Locale;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.ee10.servlet.ServletHolder;
import org.eclipse.jetty.http.UriCompliance;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.context.annotation.AnnotationConfigApplicationContext;

/**
 * Launcher: {@code java -jar hapi-server.jar --fhir-version R4|R5 --port N [--host 127.0.0.1]
 *     [--exit-on-stdin-eof]}.
 * Starts a HAPI FHIR JPA server (H2 in memory) whose base URL is {@code http://HOST:N/fhir}.
 */
public final class HapiServerMain {
	private static final Logger LOG = LoggerFactory.getLogger(HapiServerMain.class);

	private HapiServerMain() {}

	public static void main(String[] args) throws Exception {
		String version = "R4";
		int port = 8080;
		String host = "127.0.0.1";
		boolean exitOnStdinEof = false;
		for (int i = 0; i < args.length; i++) {
			String a = args[i];
			String v = (i + 1 < args.length) ? args[i + 1] : null;
			switch (a) {
				case "--fhir-version" -> { version = required(a, v); i++; }
				case "--port" -> { port = Integer.parseInt(required(a, v)); i++; }
				case "--host" -> { host = required(a, v); i++; }
				case "--exit-on-stdin-eof" -> exitOnStdinEof = true;
				case "-h", "--help" -> { usage(); return; }
				default -> { System.err.println("Unknown argument: " + a); usage(); System.exit(2); }
			}
		}
		version = version.toUpperCase(Locale.ROOT);
		Class<?> config = switch (version) {
			case "R4" -> R4ServerConfig.class;
			case "R5" -> R5ServerConfig.class;
			default -> { System.err.println("--fhir-version must be R4 or R5"); System.exit(2); yield null; }
		};
		System.setProperty("hapi.server.fhirVersion", version);
		if (exitOnStdinEof) {
			watchStdin();
		}

		long t0 = System.nanoTime();
		AnnotationConfigApplicationContext ctx = new AnnotationConfigApplicationContext();
		ctx.register(config);
		ctx.registerShutdownHook();
		ctx.refresh();

		RestfulServer fhirServer = buildRestfulServer(ctx, version);

		Server jetty = new Server();
		HttpConfiguration httpConfig = new HttpConfiguration();
		// FHIR search URLs carry '|' (token system|code) unescaped; accept it like HAPI's own servers do.
		httpConfig.setUriCompliance(UriCompliance.LEGACY);
		httpConfig.setSendServerVersion(false);
		ServerConnector connector = new ServerConnector(jetty, new HttpConnectionFactory(httpConfig));
		connector.setHost(host);
		connector.setPort(port);
		jetty.addConnector(connector);

		ServletContextHandler handler = new ServletContextHandler();
		handler.setContextPath("/");
		ServletHolder holder = new ServletHolder("fhir", fhirServer);
		holder.setInitOrder(1);
		handler.addServlet(holder, "/fhir/*");
		jetty.setHandler(handler);
		jetty.setStopAtShutdown(true);
		jetty.start();

		long ms = (System.nanoTime() - t0) / 1_000_000;
		LOG.info("HAPI FHIR {} JPA server ready at http://{}:{}/fhir (started in {} ms)", version, host,
				connector.getLocalPort(), ms);
		jetty.join();
	}

	private static RestfulServer buildRestfulServer(AnnotationConfigApplicationContext ctx, String version) {
		IFhirSystemDao<?, ?> systemDao = ctx.getBean(IFhirSystemDao.class);
		RestfulServer server = new RestfulServer(systemDao.getContext());
		systemDao.getContext().setNarrativeGenerator(new NullNarrativeGenerator());

		ResourceProviderFactory providers =
				ctx.getBean("myResourceProviders" + version, ResourceProviderFactory.class);
		server.registerProviders(providers.createProviders());
		server.registerProvider(ctx.getBean(IJpaSystemProvider.class));
		server.registerProvider(ctx.getBean(ValueSetOperationProvider.class));
		// Bulk Data Access: Patient/$export, Group/[id]/$export, $export, $export-poll-status.
		server.registerProvider(ctx.getBean(BulkDataExportProvider.class));

		server.setServerConformanceProvider(new JpaCapabilityStatementProvider(
				server,
				systemDao,
				ctx.getBean(JpaStorageSettings.class),
				ctx.getBean(ISearchParamRegistry.class),
				ctx.getBean(IValidationSupport.class)));
		server.setPagingProvider(ctx.getBean(DatabaseBackedPagingProvider.class));
		server.setDefaultResponseEncoding(EncodingEnum.JSON);
		server.setDefaultPrettyPrint(false);
		server.setServerAddressStrategy(new IncomingRequestAddressStrategy());
		return server;
	}

	/**
	 * The launching process keeps our stdin open; when it goes away (even killed with SIGKILL)
	 * stdin reaches EOF and the server shuts down instead of lingering as an orphan.
	 */
	private static void watchStdin() {
		Thread t = new Thread(() -> {
			try {
				while (System.in.read() != -1) {
					// ignore input
				}
			} catch (java.io.IOException e) {
				// treat as EOF
			}
			LOG.info("stdin closed: shutting down");
			System.exit(0);
		}, "stdin-watchdog");
		t.setDaemon(true);
		t.start();
	}

	private static String required(String flag, String value) {
		if (value == null) {
			System.err.println(flag + " needs a value");
			System.exit(2);
		}
		return value;
	}

	private static void usage() {
		System.err.println("usage: java -jar hapi-server.jar --fhir-version R4|R5 --port N [--host 127.0.0.1]"
				+ " [--exit-on-stdin-eof]");
	}
}
