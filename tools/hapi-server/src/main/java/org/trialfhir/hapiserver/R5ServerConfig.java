package org.trialfhir.hapiserver;

import ca.uhn.fhir.jpa.config.r5.JpaR5Config;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Import;

/** Spring configuration of the FHIR R5 (5.0.0) JPA server. */
@Configuration
@Import({JpaR5Config.class, CommonJpaConfig.class})
public class R5ServerConfig {}
